"""Generated Asterisk 22 configuration: the 115 dialplan with its static fallback, queues, AMI user.

``lotse dialplan build`` (:mod:`dialplans.cli`) writes the files; :func:`dialplans.build.build`
makes them from a :class:`router.config.Config`; :mod:`ami.contract` is what the dialplan
and the controller's FastAGI service agree on.
"""
