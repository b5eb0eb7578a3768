"""``iklim check``: the seed's production policy as rules over a repository tree.

Layout: :mod:`.yamlload` and :mod:`.hcl` read files keeping positions, :mod:`.documents` finds and
loads a tree, :mod:`.policy` holds the parameters, :mod:`.engine` runs the rules listed in
:data:`iklim.check.rules.RULES` (one rule per module) and applies inline suppressions, and
:mod:`.output` formats the findings. :mod:`.commands` holds the click commands.
"""
