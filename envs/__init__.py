"""The lab's own gymnasium environments, registered under the `lab/` namespace on import.

    import envs, gymnasium
    gymnasium.make("lab/CartPole-v1")             # torch CartPole, one env (numpy API)
    gymnasium.make_vec("lab/CartPole-v1", 16)     # batched torch CartPole (torch tensors, same-step autoreset)
    gymnasium.make("lab/Chain-v0")                # chain with a known optimal return (0.4)

This package imports nothing from `lab`.
"""

from gymnasium.envs.registration import register, registry

from envs.chain import ChainEnv
from envs.torch_cartpole import TorchCartPoleEnv, TorchCartPoleVectorEnv

if "lab/CartPole-v1" not in registry:
    register(id="lab/CartPole-v1", entry_point="envs.torch_cartpole:TorchCartPoleEnv",
             vector_entry_point="envs.torch_cartpole:TorchCartPoleVectorEnv",
             max_episode_steps=500, reward_threshold=475.0)
if "lab/Chain-v0" not in registry:
    register(id="lab/Chain-v0", entry_point="envs.chain:ChainEnv", max_episode_steps=50, reward_threshold=0.4)

__all__ = ["ChainEnv", "TorchCartPoleEnv", "TorchCartPoleVectorEnv"]
