"""Problem description: YAML file → frozen, validated dataclasses.

Every mistake in a problem file becomes one :class:`~femopt.errors.ConfigError`
whose one-line message names the file, the path of the offending value and
what is wrong with it, e.g.::

    mbb.yaml: loads[1].force: expected 2 numbers, got 3
    mbb.yaml: design.volume_fraction: must be in (0, 1], got 1.5
    mbb.yaml: optimizer.tyep: unknown key (did you mean 'type'?)

This package validates values and their shapes only; turning selections into
nodes is the build layer's job (:mod:`femopt.build`), which reports its own
findings through :meth:`ProblemConfig.error` in the same format.

Modules, bottom to top: :mod:`~femopt.config.reader` (YAML → data, and the
path-carrying :class:`~femopt.config.reader.YamlNode` whose checks fail naming
the path), :mod:`~femopt.config.schema` (the dataclasses),
:mod:`~femopt.config.options` (values of the kinds registered options take, and
``{type: NAME, …}`` specs of a registry), :mod:`~femopt.config.sections` (one
``_parse_*`` function per section, the design section's in :mod:`~femopt.config.design`;
:func:`load_config`, :func:`parse_config`).
Names with a leading underscore are private to this package.
"""

from femopt.config.reader import MAGNITUDES, config_error, read_yaml, yaml_data
from femopt.config.schema import (AXES, PASSIVE_TYPES, PHYSICS, CheckpointConfig, DesignConfig, LoadCaseConfig,
                                  LoadConfig, MaterialConfig, MeshConfig, OptimizerConfig, OverhangConfig,
                                  PassiveRegionConfig, PointMassConfig, ProblemConfig, ProjectionConfig,
                                  ResponseConfig, RobustConfig, Selection, Spec, SpringConfig, SupportConfig,
                                  python_file)
from femopt.config.sections import load_config, parse_config, with_overrides

__all__ = ["AXES", "MAGNITUDES", "PASSIVE_TYPES", "PHYSICS", "CheckpointConfig", "DesignConfig", "LoadCaseConfig",
           "LoadConfig", "MaterialConfig", "MeshConfig", "OptimizerConfig", "OverhangConfig", "PassiveRegionConfig",
           "PointMassConfig", "ProblemConfig", "ProjectionConfig", "ResponseConfig", "RobustConfig", "Selection",
           "Spec", "SpringConfig", "SupportConfig", "config_error", "load_config", "parse_config", "python_file",
           "read_yaml", "with_overrides", "yaml_data"]
