"""What a benchmark prints for bench/run: one line per figure,
`bench-result: {"measure", "value", "floor", "ratio", "unit", "goal", "ok"[, "detail"]}`."""
import json


def result(measure, value, floor, ratio, unit, goal, ok, detail=None):
    r = {"measure": measure, "value": value, "floor": floor, "ratio": ratio, "unit": unit,
         "goal": goal, "ok": ok}
    if detail:
        r["detail"] = detail
    print("bench-result: " + json.dumps(r), flush=True)
