"""The outbound router: RCS, Time2Chat or SMS per message, delivery deadlines, revoke then SMS,
retries, circuit breaker, 24 h validity (seed rules R4, R17-R20)."""
