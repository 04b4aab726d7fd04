"""Portrait features: decode -> detect -> align -> landmarks -> embed, one module each, one pipeline."""
