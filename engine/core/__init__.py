"""The pure core: decisions over data and an injected `now`.

Nothing here touches a database session, the web, the scheduler, templates,
providers, the clock, the environment or files (a test walks the imports).
"""
