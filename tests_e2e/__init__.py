"""End-to-end tests: a real ``hiveboard serve`` on loopback, real SDK clients.

A package (not a bare folder of tests) so that module names such as
``tests_e2e.test_bench_smoke`` never collide with same-named test files elsewhere.
"""
