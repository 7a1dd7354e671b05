"""Host driver: streams the model image and tokens to the device (simulated or a board's serial link)."""
