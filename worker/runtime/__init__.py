"""What the whole process shares: settings, the device, logs, catalog loading, fault injection."""
