# SPDX-License-Identifier: GPL-2.0
"""Plot make bench's results.json: IO-Bond against QEMU's own devices.

usage: plots.py DIR   (reads DIR/results.json, writes DIR/*.png)
"""
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend

LABELS = {"iobond": "IO-Bond", "qemu": "QEMU virtio-blk-pci"}


def med(res, job, who, key):
    s = res["disk"].get(job, {}).get(who, {}).get(key)
    return (s["median"], s["min"], s["max"]) if s else None


def sweep(res, path, title, xlabel, ylabel, jobs, xs, key):
    """One line per device: the median of @key over @jobs, min-max bars."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for who, label in LABELS.items():
        pts = [(x, med(res, job, who, key)) for x, job in zip(xs, jobs)]
        pts = [(x, m) for x, m in pts if m]
        if not pts:
            continue
        ax.errorbar([str(x) for x, _ in pts], [m[0] for _, m in pts],
                    yerr=[[m[0] - m[1] for _, m in pts], [m[2] - m[0] for _, m in pts]],
                    marker="o", capsize=3, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cdf(res, path, job):
    """The latency CDF of @job's runs, every percentile fio reported."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for who, label in LABELS.items():
        runs = res["disk"].get(job, {}).get(who, {}).get("runs", [])
        for i, r in enumerate(runs):
            pts = sorted((float(p), ms) for p, ms in r["cdf_ms"].items())
            ax.plot([ms for _, ms in pts], [p / 100 for p, _ in pts],
                    color="C0" if who == "iobond" else "C1", alpha=0.6,
                    label=label if i == 0 else None)
    ax.set_title(f"completion latency, {job}")
    ax.set_xlabel("ms")
    ax.set_ylabel("fraction of requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cpu(res, path):
    """The board's vCPU time per request at the fixed rate."""
    fig, ax = plt.subplots(figsize=(5, 4))
    names, vals, errs = [], [], []
    for who, label in LABELS.items():
        m = med(res, "rate", who, "cpu_ms_per_io")
        if m:
            names.append(label)
            vals.append(m[0] * 1000)
            errs.append([(m[0] - m[1]) * 1000, (m[2] - m[0]) * 1000])
    ax.bar(names, vals, yerr=list(zip(*errs)) if errs else None, capsize=4)
    ax.set_title(f"board vCPU time per I/O at {res['config'].get('rate_iops')} IOPS")
    ax.set_ylabel("µs per request")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    qds = [1, 4, 16, 32, 64]
    sweep(res, os.path.join(out, "iops-vs-qd.png"), "4k random read", "queue depth",
          "IOPS", [f"randread_4k_qd{q}" for q in qds], qds, "iops")
    bss = ["4k", "16k", "64k", "128k", "1m"]
    sweep(res, os.path.join(out, "mibs-vs-bs.png"), "sequential read, QD8",
          "block size", "MiB/s", [f"seqread_{b}_qd8" for b in bss], bss, "mib")
    cdf(res, os.path.join(out, "latency-cdf.png"), "randread_4k_qd32")
    cpu(res, os.path.join(out, "cpu-per-io.png"))
    print(f"plots in {out}")


if __name__ == "__main__":
    main()
