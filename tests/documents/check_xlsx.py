#!/usr/bin/env python3
# check_xlsx.py - reads a ledger (台账) as Excel users get it, with openpyxl:
# the header, the frozen panes, real dates and numbers, and no ID number
# that the reader was not given. Exits non-zero naming what was wrong.
# Usage: check_xlsx.py FILE ROWS FORBIDDEN [EXPECT_AMOUNT]
import datetime
import sys

import openpyxl

path, rows, forbidden = sys.argv[1], int(sys.argv[2]), sys.argv[3]
amount = float(sys.argv[4]) if len(sys.argv) > 4 else None
wb = openpyxl.load_workbook(path)
ws = wb.active
want = ["序号", "受理日期", "来源", "当事人", "纠纷类型", "简要案情", "涉及金额（元）",
        "承办单位", "调解员", "调解结果", "结案日期", "回访情况", "满意度"]
got = [c.value for c in ws[2]]
if got != want:
    sys.exit(f"header: {got}")
if ws.freeze_panes != "A3":
    sys.exit(f"freeze_panes: {ws.freeze_panes}")
data = list(ws.iter_rows(min_row=3, values_only=True))
if len(data) != rows:
    sys.exit(f"rows: {len(data)}, expected {rows}")
amounts = []
for i, r in enumerate(data):
    if r[0] != i + 1:
        sys.exit(f"row {i}: 序号 {r[0]!r}")
    if not isinstance(r[1], datetime.datetime):
        sys.exit(f"row {i}: 受理日期 is {type(r[1]).__name__}, not a date")
    if not isinstance(r[6], (int, float)):
        sys.exit(f"row {i}: 涉及金额 is {type(r[6]).__name__}, not a number")
    if r[10] is not None and not isinstance(r[10], datetime.datetime):
        sys.exit(f"row {i}: 结案日期 is {type(r[10]).__name__}")
    if not r[3] or not r[4] or not r[7]:
        sys.exit(f"row {i}: 当事人/纠纷类型/承办单位 empty: {r!r}")
    amounts.append(r[6])
    for v in r:
        if isinstance(v, str) and forbidden in v:
            sys.exit(f"row {i}: an unmasked ID number")
if amount is not None and amount not in amounts:
    sys.exit(f"no row with amount {amount}: {amounts}")
for col in "DF":
    if ws.column_dimensions[col].width < 10:
        sys.exit(f"column {col} width {ws.column_dimensions[col].width}")
print("ok", len(data))
