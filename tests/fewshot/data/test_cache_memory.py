"""A miniImageNet-sized cache (38,400 x 84 x 84 x 3, about 0.8 GB) is built and read without ever
holding it in process memory (slow: writes 0.8 GB)."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from fewshot.data.cache import CacheSpec, Collected
    from fewshot.data.cache_write import cached_split
    from fewshot.data.options import LoadOptions

    n = 38400
    def batches():
        for s in range(0, n, 600):  # one class of 600 images at a time, as a pickle source would not
            yield np.full((600, 84, 84, 3), s // 600, np.uint8)
    found = Collected(labels=np.repeat(np.arange(64), 600), class_names=[str(i) for i in range(64)],
                      batches=batches)
    spec = CacheSpec("big", "train", "synthetic", "array", 84, 3)
    def anon_mib():  # process memory proper; file pages of the memmap are the kernel's to evict
        line = [x for x in open("/proc/self/status") if x.startswith("RssAnon:")][0]
        return int(line.split()[1]) // 1024
    split = cached_split(spec, lambda: found, LoadOptions(cache_dir=sys.argv[1], progress=False))
    after_build = anon_mib()
    assert isinstance(split.images, np.memmap) and split.images.shape == (n, 84, 84, 3)
    rng = np.random.default_rng(0)
    for _ in range(200):  # episode gathers touch a few pages only
        idx = rng.choice(n, 80, replace=False)
        batch = split.images[np.sort(idx)]
        assert (batch[:, 0, 0, 0] == np.sort(idx) // 600).all()
    import torch  # a training process: torch, the episode sampler, float episodes
    from episodes import EpisodeSampler, TensorEpisodes
    from fewshot.runs.inputs import Normalizer
    sampler = EpisodeSampler(split.labels, 5, 5, 15, n_episodes=300, seed=0)
    for support, ys, query, yq in TensorEpisodes(split.images, sampler, transform=Normalizer([0.5] * 3, [0.25] * 3)):
        assert support.shape == (25, 3, 84, 84) and query.dtype == torch.float32
    print(after_build, anon_mib())
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_large_cache_stays_out_of_memory(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         check=True)
    after_build, after_reads = map(int, out.stdout.split()[-2:])
    print(f"anonymous memory of a process holding the 813 MiB cache: {after_build} MiB after building it, "
          f"{after_reads} MiB after 200 gathers and 300 float episodes (torch imported)")
    # the cache is 813 MiB; the bound for a sampling run is 500 MB
    assert after_build < 300 and after_reads < 450, (after_build, after_reads)
