"""A small Whisper built from its config: log-mel features in, decoder token ids."""

from transformers import WhisperConfig, WhisperForConditionalGeneration

config = WhisperConfig(
    num_mel_bins=80,
    d_model=64,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=128,
    decoder_ffn_dim=128,
    max_source_positions=50,
    max_target_positions=64,
)
# flopsight: input={"input_features": (1, 80, 100), "decoder_input_ids": (1, 16)}, dtype={"decoder_input_ids": "long"}
whisper = WhisperForConditionalGeneration(config)
