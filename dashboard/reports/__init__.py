"""Monthly attendance reconciliation (月度考勤核对).

* ``inputs``   — plain typed inputs (schedule, roster, presence, leave, notices, rulings, violations);
* ``monthly``  — the pure reckoning: ``build_month(MonthInput) -> MonthReport`` (rules in its docstring),
  from ``spans`` (scheduled pieces, each second bucketed), ``punctuality`` (arrival, departure) and
  ``tally`` (day, clerk, window and site totals); ``timeline`` — one window's presence, searchable;
* ``model``    — the report (JSON via the API; every number carries drill-down ids);
* ``tables`` / ``export`` / ``render`` — the views as XLSX, CSV (UTF-8 BOM) and print-friendly HTML + SVG;
* ``loader`` / ``seed`` — database → inputs (and back, for benchmarks and tests); ``schedule`` — opening hours;
* ``routes``   — ``/api/v1/reports/monthly`` (+ ``.xlsx``, ``.csv``) and the ``/reports/monthly`` page;
* ``points``   — the discretionary points suggestion. (``counterwatch bench report`` is rigs/bench_report.py.)
"""
