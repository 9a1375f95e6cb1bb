//! probe: see issue 4 (balancer core); designed by the core-app helper.
