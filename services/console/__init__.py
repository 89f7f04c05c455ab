"""Staff console domain logic: browser sessions, one-time sign-in (link and WeChat QR scene), the audit log."""
