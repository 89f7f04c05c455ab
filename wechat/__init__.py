"""WeChat protocol code: inbound crypto and XML, the outbound API client, the loopback sandbox and the simulator."""
