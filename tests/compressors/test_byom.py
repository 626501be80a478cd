

def test_a_hanging_step_is_killed_at_the_time_limit(eb_cache: Path, vad: tuple[Path, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit counts from the variant's start, not the child's imports, so a slow
    machine only makes this test slower: the step hangs for an hour."""
    import edgebench.variants as variants

    monkeypatch.setenv("EDGEBENCH_TEST_STEPS", "1")
    monkeypatch.setattr(variants, "BUILD_TIMEOUT_S", 2.0)
    model, data = vad
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "stuck", "steps": [{"test-hang": {}}]}, FP16],
                 name="vad-hang", path=str(model), data=str(data))
    assert "step test-hang timed out after" in arts[("stuck", "onnx")].error
    assert "EDGEBENCH_BUILD_TIMEOUT_S=2" in arts[("stuck", "onnx")].error
    assert ok(arts[("fp16", "onnx")])["cosine"] > 0.999
