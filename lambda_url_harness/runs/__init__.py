"""What a run leaves behind when it is SIGKILLed: :mod:`.ledger` writes it down as it happens, :mod:`.recovery`
clears it at the next run's start."""
