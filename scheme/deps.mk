# Which compiled modules need which others first (make's view of the
# imports in scheme/). Keep in step with the define-module forms.
G := $(B)/go/parallelizer
$(G)/wire.go: $(G)/primitives.go
$(G)/core.go: $(G)/wire.go
$(G)/backend/serial.go $(G)/backend/multiprocessing.go \
  $(G)/backend/mpi.go: $(G)/core.go
$(G)/registry.go: $(G)/backend/serial.go $(G)/backend/multiprocessing.go \
  $(G)/backend/mpi.go
$(G)/run.go: $(G)/registry.go
$(G)/collectives.go: $(G)/core.go
$(G)/serve.go: $(G)/run.go
$(B)/go/parallelizer.go: $(G)/wire.go $(G)/run.go $(G)/collectives.go \
  $(G)/serve.go
$(G)/mpi-primitives.go: $(LIBGLUE_MPI)
