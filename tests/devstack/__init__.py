"""Tests of the local operations layer: embedded Redis, veo-dev, Flower wrapper, Procfile."""
