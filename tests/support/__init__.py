"""Builders for real test inputs: OCI images, registries, rootfs trees and a Trivy DB.

Every helper produces something a real tool consumes (docker-registry, Trivy), so tests exercise
the gate end to end instead of mocking it.
"""
