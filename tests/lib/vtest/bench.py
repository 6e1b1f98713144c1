"""What a Python benchmark prints for bench/run."""
import json


def result(measure, value, floor, unit, goal, ok):
    """One `bench-result:` line; ok(ratio) says whether the goal is met."""
    ratio = value / floor if floor else None
    print("bench-result: " + json.dumps({
        "measure": measure, "value": round(value, 1), "floor": round(floor, 1),
        "ratio": round(ratio, 3) if ratio else "", "unit": unit, "goal": goal,
        "ok": ok(ratio) if ratio else None}), flush=True)
