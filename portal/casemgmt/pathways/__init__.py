"""Management pathways: the steps per disease, published as versions."""
