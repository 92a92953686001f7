"""statsforecast's AutoETS, MSTL and AutoTheta on the forecast bench's own origins.

Run by `cargo bench -p signalcraft-process --bench forecast` when SIGNALCRAFT_STATSFORECAST=1
(in a venv with `pip install statsforecast==2.1.1`, which the bench creates under ~/.cache).
Reads on stdin what the bench forecasts, so both sides see the same training windows:

    {"series": [{"name": ..., "periods": [m, ...], "horizon": h,
                 "origins": [[train values], ...]}, ...]}

and writes one JSON line per (series, model) on stdout:

    {"series": ..., "model": ..., "forecasts": [[h values], ...],
     "wall": [seconds per origin], "cpu": [seconds per origin], "first_call": seconds}

The bench scores the forecasts with its own MASE and sMAPE. Times are fit + predict of one
origin (the model objects' `fit` and `predict`, without the pandas layer of the
`StatsForecast` class, which would only add to statsforecast's time). numba compiles each
model's code on its first call; `first_call` is that call (compile + fit + predict, on the
first origin of the first series the model sees), and it is then repeated, so every time in
`wall` and `cpu` is of compiled code.
"""

import json
import sys
import time

import numpy as np
from statsforecast.models import MSTL, AutoETS, AutoTheta


def models(periods):
    """The three models at the series' periods (the shortest for the single-season ones).

    AutoETS only up to a season of 24: statsforecast's ETS handles no longer season (as R's
    ets), and on the half-hourly and 5-minute series its fit ran for many minutes per origin
    without finishing in the bench's first run.
    """
    m = periods[0]
    out = {}
    if m <= 24:
        out["statsforecast AutoETS"] = lambda: AutoETS(season_length=m)
    out["statsforecast MSTL"] = lambda: MSTL(season_length=periods, trend_forecaster=AutoETS(model="ZZN"))
    out["statsforecast AutoTheta"] = lambda: AutoTheta(season_length=m)
    return out


def fit_predict(make, y, h):
    model = make()
    model.fit(y=y)
    return model.predict(h=h)["mean"]


def main():
    request = json.load(sys.stdin)
    compiled = set()
    for series in request["series"]:
        h = series["horizon"]
        for name, make in models(series["periods"]).items():
            first_call = None
            if name not in compiled:
                y = np.asarray(series["origins"][0], dtype=np.float64)
                started = time.perf_counter()
                fit_predict(make, y, h)
                first_call = time.perf_counter() - started
                compiled.add(name)
            out = {"series": series["name"], "model": name, "forecasts": [], "wall": [], "cpu": []}
            for train in series["origins"]:
                y = np.asarray(train, dtype=np.float64)
                wall, cpu = time.perf_counter(), time.process_time()
                mean = fit_predict(make, y, h)
                out["cpu"].append(time.process_time() - cpu)
                out["wall"].append(time.perf_counter() - wall)
                out["forecasts"].append([float(v) for v in mean])
            out["first_call"] = first_call
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
