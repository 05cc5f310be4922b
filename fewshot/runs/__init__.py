"""What turns a config or a run folder into objects: the learner (:mod:`.build`), the episode
samplers (:mod:`.episodes`), the pixel normaliser (:mod:`.inputs`), checkpoints and loading a run
(:mod:`.checkpoint`), process-group basics (:mod:`.ranks`), random generators (:mod:`.rng`) and
the run's records: metrics, TensorBoard, provenance (:mod:`.records`)."""
