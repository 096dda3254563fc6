"""An active engine and a standby (issue 16).

Set up:
  1. Both engines' settings: `crm.url` (or `cluster.url`) naming the same PostgreSQL database,
     `cluster: {enabled: true, name: <cluster>, engine_id: <this engine>}`, each its own
     `crm.spool_dir`, AGI port and control socket (a second engine on a live control socket
     is refused). PostgreSQL on a primary and a streaming standby: list both servers,
     `postgresql://u@db1:5432,db2:5432/crm?target_session_attrs=read-write`; the CRM spools
     while neither takes writes and follows the promotion (stop the old primary first).
  2. Once: `ivr cluster init` (migrates the database and names it the cluster's; an engine
     refuses a database without that row or naming another cluster).
  3. Asterisk: IVR_ENGINE and IVR_ENGINE_B globals (asterisk/extensions_hotline.conf); the
     active engine sets IVR_ACTIVE itself through AMI.
  4. Run both under a supervisor that restarts them (systemd Restart=always): an engine that
     loses its lock exits with status 2 and comes back as the standby.
`ivr cluster status --format table|csv|json`: the active engine, its term, the links.

leadership.py and places.py are the pure rules; pg_leader.py, pg_places.py and admin.py
the PostgreSQL adapters; gate.py the standby's door.
"""
