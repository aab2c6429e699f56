"""Writes the results: a Markdown table and a JSON file of ratios (sidecar/nginx), stamped with date, commit, machine."""
import json
import re

README_BEGIN = "<!-- benchmark-table:begin (written by benchmarks/run.sh --readme) -->"
README_END = "<!-- benchmark-table:end -->"


def slug(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def goal(row):
    """The issue's targets: at least nginx's throughput, at most its CPU and memory, p99 within 10%."""
    if row["metric"] == "errors":
        return "0"
    if row["better"] == "higher":
        return ">= 1"
    return "<= 1.10" if "latency" in row["metric"] or "p99" in row["metric"] else "<= 1"


def meets(row):
    ratio = row["ratio"]
    if ratio is None and row["metric"] != "errors":
        return None
    limit = goal(row)
    if limit == "0":
        return row["values"].get("sidecar") == 0
    return ratio >= 1 if limit == ">= 1" else ratio <= float(limit.split()[1])


def label(row):
    return row["metric"] if row["unit"] in (row["metric"], "count") else f"{row['metric']} ({row['unit']})"


def _cell(row, value):
    return "n/a" if value is None else row["fmt"].format(value)


def markdown(stamp, columns, rows, notes):
    lines = [
        f"Run {stamp['date']} · commit `{stamp['commit']}`{' (dirty)' if stamp['dirty'] else ''} · {stamp['mode']} mode · "
        f"sidecar {stamp['sidecar_build']} · {stamp['machine']['cpus']} CPUs ({stamp['machine']['cpu_model']}), "
        f"{stamp['machine']['mem_gib']} GiB · load avg {stamp['machine']['loadavg_start']} at start",
        "",
        "| scenario | metric | " + " | ".join(label for _, label in columns) + " | sidecar/nginx | goal |",
        "|---|---|" + "---:|" * len(columns) + "---:|---|",
    ]
    for row in rows:
        cells = [_cell(row, row["values"].get(name)) for name, _ in columns]
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}"
        mark = {True: " ✓", False: " ✗", None: ""}[meets(row)]
        lines.append(f"| {row['section']} | {label(row)} | " + " | ".join(cells) + f" | {ratio}{mark} | {goal(row)} |")
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def as_json(stamp, columns, rows, notes):
    return {
        **stamp,
        "columns": [{"name": name, "label": label} for name, label in columns],
        "ratios": {slug(f"{r['section']} {r['metric']}"): r["ratio"] for r in rows},
        "rows": [{"id": slug(f"{r['section']} {r['metric']}"), "section": r["section"], "metric": r["metric"], "unit": r["unit"],
                  "better": r["better"], "goal": goal(r), "meets_goal": meets(r), "values": r["values"], "ratio": r["ratio"]}
                 for r in rows],
        "notes": notes,
    }


def write(results_dir, basename, stamp, columns, rows, notes, suffix=""):
    md = markdown(stamp, columns, rows, notes)
    (results_dir / f"{basename}.md{suffix}").write_text(md)
    (results_dir / f"{basename}.json{suffix}").write_text(json.dumps(as_json(stamp, columns, rows, notes), indent=2, ensure_ascii=False) + "\n")
    return md


def update_readme(readme, md):
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise RuntimeError(f"{readme} has no benchmark markers ({README_BEGIN} ... {README_END})")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + README_BEGIN + "\n" + md + README_END + tail)
