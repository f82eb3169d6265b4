"""Building a checkpoint's image layer without the engine's ``docker commit``.

``docker commit`` tars the container's writable layer, extracts that tar again
into a new layer directory and digests it; ``docker push`` then re-reads the
layer and gzips it on one core. The pieces here do the least that gives the same
image: ``tarstream`` writes the overlay2 upper directory as a layer tar (overlay
whiteouts converted to the image format's) and digests it while writing;
``compress`` gzips it in parallel members for the upload; ``image`` builds the
config and manifest JSON (pure); ``staging`` keeps a committed-but-not-pushed
checkpoint on disk so a restarted daemon can finish or remove it.
"""
