"""Detector for CounterWatch: dataset assembly, training (train extra only), export, evaluation and the
shipped model's manifest. Inference is the vision core's (vision/), which the edge runs too."""
