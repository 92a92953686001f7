#!/usr/bin/env python3
"""Converts the Turing Change Point Dataset (TCPD) into the layout of the Numenta Anomaly
Benchmark, so the NAB bench (`crates/process/benches/nab.rs`) scores the anomaly detector on a
second, independent labelled corpus with the same scorer.

Source: github.com/alan-turing-institute/TCPD (van den Burg & Williams, "An Evaluation of Change
Point Detection Algorithms", 2020), commit 83b3039b5c67eaf21a720e3eac4ffdade3fb421c. Its code and
its own series are MIT-licensed; every other series carries its own licence in its README. Only
the series whose README states terms that allow reuse are converted (LICENSED below, with the
terms as the README states them); series the repository does not ship (downloaded by its
scripts) and the one two-dimensional series are left out. Series shorter than MIN_ROWS points are
left out too: a streaming detector learns for its first points, and NAB's scorer ignores the
first 15% of each file.

Labels: TCPD has the change points marked by five annotators per series (`annotations.json`).
A change point is kept where at least three annotators marked a point within MERGE points of each
other (their median index), as NAB combines its labellers' marks. Each kept point becomes a NAB
window centred on it, of NAB's width: 10% of the file's length divided by the number of change points;
overlapping windows merge into one.

Missing values are dropped (the row is absent, as a pipeline never receives a point that was
not measured); windows are placed by the original indices, so by time.

Timestamps: a series with dates keeps them (a year becomes 1 January, a month its first day); a
series with only an index gets one point a day from 2000-01-01, stated in SOURCE.txt.

Usage: python3 crates/process/benches/tcpd_to_nab.py TCPD_CHECKOUT OUT_DIR
  then: SIGNALCRAFT_SECOND_CORPUS_DIR=OUT_DIR cargo bench -p signalcraft-process --bench nab
The data stay outside the repository (OUT_DIR, e.g. ~/.cache/tcpd-nab).
"""

import datetime
import json
import os
import statistics
import sys

TCPD_COMMIT = "83b3039b5c67eaf21a720e3eac4ffdade3fb421c"

# Series and the terms their README states (checked by hand, one by one).
LICENSED = {
    "bank": "MIT (TCPD's own)",
    "brent_spot": "public domain (U.S. EIA)",
    "children_per_woman": "CC BY 4.0 (Gapminder)",
    "co2_canada": "CC BY 4.0",
    "global_co2": "CC BY 3.0",
    "homeruns": "CC BY-SA 3.0 (Lahman baseball database)",
    "jfk_passengers": "CC0 public domain",
    "lga_passengers": "CC0 public domain",
    "nile": "GPL-2 (R datasets)",
    "quality_control_1": "MIT (TCPD's own, synthetic)",
    "quality_control_2": "MIT (TCPD's own, synthetic)",
    "quality_control_3": "MIT (TCPD's own, synthetic)",
    "quality_control_4": "MIT (TCPD's own, synthetic)",
    "quality_control_5": "MIT (TCPD's own, synthetic)",
    "seatbelts": "GPL-2 (R datasets)",
    "shanghai_license": "CC0 public domain",
    "uk_coal_employ": "Open Government Licence v3",
    "usd_isk": "Eurostat, reuse allowed with attribution",
    "well_log": "MIT",
}
MIN_ROWS = 100
MERGE = 5
MIN_ANNOTATORS = 3
CATEGORY = "tcpd"


def timestamps(series):
    time = series.get("time") or {}
    raw, fmt = time.get("raw"), time.get("format")
    if raw and fmt in ("%Y", "%Y-%m", "%Y-%m-%d"):
        return [datetime.datetime.strptime(str(r), fmt) for r in raw], f"dates ({fmt})"
    start = datetime.datetime(2000, 1, 1)
    return [start + datetime.timedelta(days=i) for i in range(series["n_obs"])], "index only: one a day from 2000-01-01"


def consensus(marks_by_annotator, n):
    marks = sorted((i, a) for a, marks in marks_by_annotator.items() for i in marks if 0 < i < n)
    groups, current = [], []
    for mark in marks:
        if current and mark[0] - current[-1][0] > MERGE:
            groups.append(current)
            current = []
        current.append(mark)
    if current:
        groups.append(current)
    return [
        int(statistics.median(i for i, _ in g)) for g in groups if len({a for _, a in g}) >= MIN_ANNOTATORS
    ]


def main(src, out):
    annotations = json.load(open(os.path.join(src, "annotations.json")))
    labels, provenance = {}, []
    os.makedirs(os.path.join(out, "data", CATEGORY), exist_ok=True)
    os.makedirs(os.path.join(out, "labels"), exist_ok=True)
    for name, terms in sorted(LICENSED.items()):
        series = json.load(open(os.path.join(src, "datasets", name, f"{name}.json")))
        n = series["n_obs"]
        if series["n_dim"] != 1 or n < MIN_ROWS:
            continue
        values = series["series"][0]["raw"]
        stamps, time_note = timestamps(series)
        rows = [(t, v) for t, v in zip(stamps, values) if v is not None]
        fmt = "%Y-%m-%d %H:%M:%S"
        with open(os.path.join(out, "data", CATEGORY, f"{name}.csv"), "w") as f:
            f.write("timestamp,value\n")
            for t, v in rows:
                f.write(f"{t.strftime(fmt)},{v!r}\n")
        points = consensus(annotations.get(name, {}), n)
        windows = []
        if points:
            half = int(0.10 * n / len(points)) // 2
            spans = []
            for i in points:
                lo, hi = max(0, i - half), min(n - 1, i + half)
                if spans and lo <= spans[-1][1]:
                    spans[-1][1] = hi  # overlapping windows merge, as NAB's do
                else:
                    spans.append([lo, hi])
            for lo, hi in spans:
                windows.append([stamps[lo].strftime(fmt) + ".000000", stamps[hi].strftime(fmt) + ".000000"])
        labels[f"{CATEGORY}/{name}.csv"] = windows
        provenance.append(f"{name}: {len(rows)} points, {len(points)} change points, {time_note}; {terms}")
    with open(os.path.join(out, "labels", "combined_windows.json"), "w") as f:
        json.dump(labels, f, indent=4)
    with open(os.path.join(out, "SOURCE.txt"), "w") as f:
        f.write(
            f"Turing Change Point Dataset, github.com/alan-turing-institute/TCPD at {TCPD_COMMIT},\n"
            "converted to NAB's layout by crates/process/benches/tcpd_to_nab.py of signalcraft (see its header for\n"
            "the rules). Per series: points, consensus change points, timestamps, licence.\n\n"
            + "\n".join(provenance)
            + "\n"
        )
    print(f"{len(provenance)} series, {sum(len(w) for w in labels.values())} windows -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
