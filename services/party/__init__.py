"""The party side of 红管家: 党员报到, 党员联户, 先锋日志, 行动支部, community tags, monthly awards."""
