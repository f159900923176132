# Which compiled modules need which others first (make's view of the
# imports in scheme/). Keep in step with the define-module forms.
G := $(B)/go/parallelizer
$(G)/wire.go: $(G)/primitives.go
$(G)/errors.go: $(G)/wire.go
$(G)/core.go: $(G)/errors.go $(G)/wire.go
$(G)/chunks.go: $(G)/errors.go
$(G)/backend/serial.go $(G)/backend/multiprocessing.go \
  $(G)/backend/mpi.go: $(G)/core.go
$(G)/registry.go: $(G)/backend/serial.go $(G)/backend/multiprocessing.go \
  $(G)/backend/mpi.go
$(G)/run.go: $(G)/registry.go
$(G)/point-to-point.go $(G)/print.go: $(G)/core.go
$(G)/collectives.go: $(G)/core.go $(G)/chunks.go
$(G)/map.go: $(G)/collectives.go $(G)/chunks.go
$(G)/serve.go: $(G)/run.go
$(B)/go/parallelizer.go: $(G)/wire.go $(G)/run.go $(G)/point-to-point.go \
  $(G)/collectives.go $(G)/map.go $(G)/print.go $(G)/serve.go
$(G)/mpi-primitives.go: $(LIBGLUE_MPI)
