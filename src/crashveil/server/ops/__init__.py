"""Operations on a whole server directory: backup, restore, the signals and progress of long runs."""
