"""Rate limits, concurrency and budgets, exact across replicas.

- ``limiter``: the store-level machinery: key limits (rpm, tpm, concurrency slots,
  daily budget) and provider quotas, admitted in one store call and settled in one.
- ``charges``: what one exchange is charged (its estimate), how it is settled (its
  real usage) and which provider quotas it holds until it ends.
"""
