"""Problem files: YAML → frozen, validated dataclasses with path-qualified errors."""

from femopt.config.sections import (AXES, PASSIVE_TYPES, PHYSICS, CheckpointConfig, DesignConfig,
                                    LoadCaseConfig, LoadConfig, MaterialConfig, MeshConfig,
                                    OptimizerConfig, PassiveRegionConfig, ProblemConfig,
                                    ProjectionConfig, ResponseConfig, RobustConfig, Selection, Spec,
                                    SpringConfig, SupportConfig, config_error, load_config,
                                    parse_config, read_yaml, with_overrides)
