"""``bench/public_summary.py``: how useful the public summary is under a yearly privacy bound.

Simulates an app with ``--dau`` daily active installations (from a population of
``--population`` (1.5) times that, each active on a day with probability dau / population)
and crash groups that affect a fixed share of a window's installations (2% ... 50%), plus
rare groups of 1 to 3 installations and one planted single-installation crash. Every configuration (yearly
epsilon x window) runs ``--weeks`` weeks through the server's own functions
(``windows.bound_window``, ``windows.window_noise``, ``windows.release_table`` and the
accountant's ``yearly_budget``), the same ones ``publish_window`` runs on the database.

For the crashes that affect at least ``--share`` (10%) of a window's installations it
prints the publish rate and the relative error of published counts (median, p90) against
the bounded true count; "rare" is how many rare or planted keys were ever published.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _table import print_table

from crashveil.server.insights.accountant import epsilon_of_rho, yearly_budget
from crashveil.server.insights.windows import bound_window, release_table, window_noise

SHARES = (0.02, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30, 0.50)
Row = tuple[str, str, str]


def simulate_days(days: int, dau: int, seed: int, population_factor: float) -> list[list[Row]]:
    """Per day, the (install, group, platform) rows of that day's reports, in arrival order."""
    rng = random.Random(seed)
    population = int(dau * population_factor)
    installs = [f"i{n}" for n in range(population)]
    platform = {i: f"1.{rng.randrange(3)}|{rng.choice(['linux', 'windows', 'macos'])}" for i in installs}
    active_p = dau / population
    out: list[list[Row]] = []
    for day in range(days):
        active = [i for i in installs if rng.random() < active_p]
        rows: list[Row] = []
        for g, share in enumerate(SHARES):
            # a share of the week's installs over 7 days: per active day ~ share / (7 * active_p)
            per_day = 1 - (1 - share) ** (1 / (7 * active_p))
            rows += [(i, f"g{g}", platform[i]) for i in active if rng.random() < per_day]
        for r in range(5):  # rare groups, new every day
            rows += [(i, f"rare{day}-{r}", platform[i]) for i in rng.sample(active, rng.randint(1, 3))]
        if day % 7 == 3:
            rows.append((active[0], "planted", platform[active[0]]))
        rng.shuffle(rows)
        out.append(rows)
    return out


def run(days_rows: list[list[Row]], epsilon: float, delta: float, window: int, min_k: int,
        share: float) -> dict[str, float]:
    budget = yearly_budget(epsilon, delta, window)
    noise = window_noise(budget.rho_per_window, budget.threshold_delta_per_window, min_k)
    errors: list[float] = []
    wanted = published = rare = 0
    for start in range(0, len(days_rows) - window + 1, window):
        rows = [row for day in days_rows[start:start + window] for row in day]
        installs = len({i for i, _, _ in rows})
        groups, _ = bound_window(rows)
        released = release_table(groups, noise.groups)
        rare += sum(1 for key in released if key.startswith(("rare", "planted")))
        for key, true in groups.items():
            if key.startswith("g") and true >= share * installs:
                wanted += 1
                if key in released:
                    published += 1
                    errors.append(abs(released[key] - true) / true)
    errors.sort()
    return {"median": statistics.median(errors) if errors else float("nan"),
            "p90": errors[int(0.9 * (len(errors) - 1))] if errors else float("nan"),
            "rate": published / wanted if wanted else float("nan"), "rare": rare,
            "threshold": noise.groups.threshold, "scale": noise.groups.scale,
            "window_eps": epsilon_of_rho(noise.rho, delta / 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dau", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--epsilons", default="1,2,5,10,20")
    parser.add_argument("--windows", default="1,7")
    parser.add_argument("--delta", type=float, default=1e-6)
    parser.add_argument("--min-k", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--population", type=float, default=1.5, help="installations per daily active one")
    args = parser.parse_args()
    started = time.process_time()
    days_rows = simulate_days(7 * args.weeks, args.dau, args.seed, args.population)
    table = []
    for window in (int(w) for w in args.windows.split(",")):
        for epsilon in (float(e) for e in args.epsilons.split(",")):
            result = run(days_rows, epsilon, args.delta, window, args.min_k, args.share)
            table.append([{1: "day", 7: "week"}.get(window, f"{window} days"), f"{epsilon:g}",
                          f"{result['window_eps']:.3f}", f"{result['scale']:.1f}", str(result["threshold"]),
                          f"{100 * result['median']:.1f}%", f"{100 * result['p90']:.1f}%",
                          f"{100 * result['rate']:.1f}%", str(result["rare"])])
    print(f"{args.dau} daily active installs of {int(args.dau * args.population)}, {args.weeks} weeks, crashes "
          f"affecting >= {args.share:.0%} of a window's installs; yearly delta {args.delta:g}, k = {args.min_k}")
    print_table(["window", "eps/year", "eps/window", "sigma", "threshold", "err median", "err p90",
                 "published", "rare"], table)
    print(f"CPU {time.process_time() - started:.1f} s")


if __name__ == "__main__":
    main()
