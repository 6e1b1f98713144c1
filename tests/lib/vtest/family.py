"""What a test family (tests/emu/families/*.json) must look like on D-Bus.

Independent of the daemon: the expectations are computed here from the
family file the virtual card was made from.
"""
import json
import os

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def load(name):
    with open(os.path.join(SRCDIR, "tests", "emu", "families", name + ".json"),
              encoding="utf-8") as f:
        return json.load(f)


def iso(ymd):
    """"19800315" -> "1980-03-15"; None/"" -> ""."""
    return "%s-%s-%s" % (ymd[:4], ymd[4:6], ymd[6:]) if ymd else ""


def _in_force(period, date):
    start, end = iso(period["start"]), iso(period.get("end"))
    return start <= date and (not end or date <= end)


def beneficiaries(fam, date):
    """The beneficiary dictionaries vitaled must return for date (YYYY-MM-DD),
    restricted to the keys computed here."""
    out = []
    for b in fam["beneficiaries"]:
        amo = b.get("amo", {})
        rights = amo.get("rights", [])
        open_ = [p for p in rights if _in_force(p, date)]
        out.append({
            "UsualName": b["usual_name"],
            "BirthName": b.get("birth_name", ""),
            "FirstName": b["first_name"],
            "BirthDate": iso(b["birth_date"]),
            "Qualite": b["qualite"],
            "Nir": b.get("nir", ""),
            "NirKeyValid": bool(b.get("nir")),
            "AmoOpen": bool(open_),
            # one period in force: it says until when ("" = open-ended)
            "AmoUntil": iso(open_[0].get("end")) if len(open_) == 1 else None,
            "Rights": [{"Start": iso(p["start"]), "End": iso(p.get("end")),
                        "InForce": _in_force(p, date)} for p in rights],
            "Coverages": [{"Start": iso(c["start"]), "End": iso(c.get("end")),
                           "InForce": _in_force(c, date),
                           "Exemption": c.get("exemption", ""),
                           "Situation": c.get("situation", "")}
                          for c in amo.get("coverage", [])],
            "C2S": any(_in_force(p, date) for p in amo.get("c2s", [])),
            "Amc": [{"Organisation": a["organisation"], "Member": a["member"],
                     "Guarantee": a["guarantee"], "Routing": a["routing"],
                     "Start": iso(a["start"]), "End": iso(a.get("end")),
                     "InForce": _in_force(a, date)} for a in b.get("amc", [])],
        })
    return out


def compare(got, want):
    """List of differences (empty when got matches want on want's keys)."""
    diffs = []
    if len(got) != len(want):
        return ["%d beneficiaries instead of %d" % (len(got), len(want))]
    for i, (g, w) in enumerate(zip(got, want)):
        for k, v in w.items():
            if v is None:
                continue
            if g.get(k) != v:
                diffs.append("beneficiary %d %s: got %r, want %r" % (i, k, g.get(k), v))
    return diffs


def secrets(fam):
    """Every personal string of the family: names, NIRs, birth dates, numbers."""
    out = set()
    card = fam.get("card", {})
    for s in card.get("serial", {}).values():
        out.add(s)
    for b in fam.get("beneficiaries", []):
        for k in ("usual_name", "birth_name", "first_name", "nir"):
            if b.get(k) and len(b[k]) >= 3:
                out.add(b[k])
        out.add(b["birth_date"])
        out.add(iso(b["birth_date"]))
        for a in b.get("amc", []):
            out.add(a["member"])
    leg = fam.get("legacy")
    if leg:
        out.update([leg["surname"], leg["first_name"], leg["nir"], leg["birth_date"]])
    return sorted(out)
