"""The provider-reuse facade: which validation cache a working directory's provider gets."""

from __future__ import annotations

from pathlib import Path

from lambda_url_harness.provider.proxy import ValidationCache
from lambda_url_harness.provider.reuse import VALIDATIONS_DIR, ProviderReuse, SharedProvider


def test_a_shared_cache_is_used_even_while_it_is_empty(tmp_path: Path) -> None:
    shared = ValidationCache(tmp_path / "shared")
    assert len(shared) == 0
    provider = SharedProvider(tmp_path / "work", {}, validation_cache=shared)
    assert provider._cache is shared


def test_without_a_shared_cache_the_directory_keeps_its_own(tmp_path: Path) -> None:
    provider = SharedProvider(tmp_path, {})
    assert provider._cache.directory == tmp_path / ".terraform" / VALIDATIONS_DIR


def test_a_run_shares_one_cache_and_removes_it(tmp_path: Path) -> None:
    reuse = ProviderReuse(enabled=True, share_validations=True)
    cache = reuse.validation_cache()
    assert cache is not None and cache is reuse.validation_cache()
    assert cache.directory.is_dir()
    reuse.close()
    assert not cache.directory.exists()
    assert ProviderReuse(enabled=True).validation_cache() is None, "each directory its own"
    assert ProviderReuse(enabled=False, share_validations=True).validation_cache() is None
