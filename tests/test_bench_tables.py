"""The RL results benchmark assembles its tables from the runs it made (runs replaced by fixed outcomes here)."""

from lab.bench import rl_results


def test_rl_results_tables_put_sb3_beside_the_lab(monkeypatch, tmp_path):
    def train(experiment, seed, steps, out):
        return {"return": 100.0 + seed, "seconds": 10.0, "curve": [(0.0, 0.0), (float(steps), 1.0)]}

    def sb3(algorithm, env_id, seed, steps, hyperparameters):
        return {"return": 50.0 + seed, "seconds": 20.0}

    monkeypatch.setattr(rl_results, "_train", train)
    monkeypatch.setattr(rl_results, "_sb3", sb3)
    monkeypatch.setattr(rl_results, "CURVES_DIR", tmp_path)
    report = rl_results.run().splitlines()
    row = {line.split(" | ")[0].strip("| "): line for line in report if line.startswith("| ")}
    assert row["dqn_cartpole"] == ("| dqn_cartpole | 50,000 | 101.0 +- 0.8 (100, 101, 102) | 500.0 +- 0.0 | "
                                   "51.0 +- 0.8 (50, 51, 52) | 10 |")
    assert row["ppo_acrobot"].endswith("| -73.5 +- 18.2 | - | 10 |")  # no SB3 run of its own: a dash
    assert row["sac_lunarlander_continuous"] == "| sac_lunarlander_continuous | 100 | 10 | 50 | 20 |"
    assert (tmp_path / "ppo_halfcheetah.png").exists() and (tmp_path / "reinforce_cartpole.png").exists()
