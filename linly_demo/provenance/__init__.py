"""Provenance: every video says what it is (a visible label, a signed C2PA manifest) and anyone can check it."""
