"""RL building blocks: vectorised envs behind one torch interface, rollouts, advantages, policy heads, normalisers."""
