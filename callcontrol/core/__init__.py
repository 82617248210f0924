"""Pure, deterministic call-center logic: no I/O, no clocks, no asyncio; time is an argument."""
