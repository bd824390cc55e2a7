"""Detector for CounterWatch: dataset assembly, training (train extra only), export, evaluation and the
shipped model's manifest. Runtime code (edge) only uses :mod:`models.manifest` and :mod:`models.infer`."""
