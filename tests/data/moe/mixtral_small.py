"""The issue's small Mixtral: hidden 1024, 4 layers, 8 experts, top-2 (512 tokens in the pragma)."""

from transformers import MixtralConfig, MixtralForCausalLM

config = MixtralConfig(
    hidden_size=1024,
    intermediate_size=3584,
    num_hidden_layers=4,
    num_attention_heads=32,
    num_key_value_heads=8,
    num_local_experts=8,
    num_experts_per_tok=2,
    vocab_size=32000,
)
# flopsight: input={"input_ids": (1, 512)}, dtype="long"
mixtral = MixtralForCausalLM(config)
