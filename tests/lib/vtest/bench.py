"""What a benchmark prints for bench/run: one line per figure,
`bench-result: {"measure", "value", "floor", "ratio", "unit", "goal", "ok"[, "detail"]}`."""
import json


def result(measure, value, floor, ratio, unit, goal, ok, detail=None):
    r = {"measure": measure, "value": value, "floor": floor, "ratio": ratio, "unit": unit,
         "goal": goal, "ok": ok}
    if detail:
        r["detail"] = detail
    print("bench-result: " + json.dumps(r), flush=True)


def ratio_result(measure, value, floor, unit, goal, ok):
    """value against floor; ok(ratio) says whether the goal is met."""
    ratio = value / floor if floor else None
    result(measure, round(value, 1), round(floor, 1), round(ratio, 3) if ratio else "",
           unit, goal, ok(ratio) if ratio else None)
