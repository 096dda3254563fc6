"""Holt-Winters (statsmodels' exponential smoothing) for daily call totals with weekly
seasonality. Kept apart from the pure cores: statsmodels loads numpy, scipy and pandas."""
from __future__ import annotations

import warnings

NAME = "Holt-Winters (additive, damped trend, weekly season; statsmodels)"


def daily_forecast(history: list[float], ahead: int) -> list[float]:
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = np.asarray(history, dtype=float)
    with warnings.catch_warnings():   # convergence chatter on short series: the fit is still used
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal="add",
                                   seasonal_periods=7, initialization_method="estimated").fit()
        return [float(v) for v in fit.forecast(ahead)]
