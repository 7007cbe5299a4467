"""Order intake: owns the Order aggregate and the state of the whole order process."""
