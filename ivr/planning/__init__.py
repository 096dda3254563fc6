"""Workforce planning: intraday staffing, forecasts from the CRM's history, what-if replays.

Pure cores (no I/O, no clock): `profiles`, `intraday`, `forecast`, `replay`, `mix`, `chart`.
Adapters: `history` (reads the CRM), `holt_winters` (statsmodels), and `ivr/cli/planning.py`.
"""
