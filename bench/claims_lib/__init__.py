"""bench/claims: claiming throughput, the ledger lock's cost, event latency, the project board."""
