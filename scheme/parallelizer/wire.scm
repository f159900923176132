;;; (parallelizer wire) — Scheme values to CBOR bytes and back.

;;; Commentary:
;;;
;;; The wire format of Parallelizer: every message between processes is one
;;; CBOR data item (RFC 8949).  This module exposes the codec so that users
;;; can also store and exchange values: `value->cbor' turns a value into a
;;; bytevector, `cbor->value' turns one back.  Numeric vectors use the typed
;;; arrays of RFC 8746 and are copied once each way.  SRFI-9 records travel
;;; once their type is registered on both sides with
;;; `register-wire-record-type!'.  The manual's "Wire format" chapter lists
;;; every tag and limit.
;;;
;;; Code:

(define-module (parallelizer wire)
  #:use-module ((parallelizer primitives)
                #:hide (%wire-set-parallelizer-hooks!))
  #:export (value->cbor
            cbor->value
            register-wire-record-type!
            wire-max-depth
            %wire-set-parallelizer-hooks!))

(define (value->cbor obj)
  "Return a bytevector holding the CBOR encoding of OBJ.

OBJ may be built from numbers, booleans, characters, strings, symbols,
keywords, lists (proper or not), vectors, bytevectors, SRFI-4 vectors,
arrays, hash tables, registered SRFI-9 records, exceptions, the unspecified
value and the end-of-file object.  Anything else (a procedure, a port, an
unregistered record) raises a @code{parallelizer-error} that names the
object and where it sits in OBJ."
  (%value->cbor obj))

(define (cbor->value bytevector)
  "Decode BYTEVECTOR, which must hold exactly one CBOR item, and return the
value it encodes.  Malformed, truncated or over-deep input raises a
@code{parallelizer-error}; so do trailing bytes after the item."
  (%cbor->value bytevector))

(define* (register-wire-record-type! rtd #:optional
                                     (name (symbol->string
                                            (record-type-name rtd))))
  "Let records of type RTD travel on the wire under NAME, a string that
defaults to the name of RTD.  Records go as their type name followed by
their fields, so the receiving process must register a type with the same
NAME and the same number of fields.  Registering again replaces the earlier
binding of RTD and of NAME."
  (unless (record-type? rtd)
    (scm-error 'wrong-type-arg "register-wire-record-type!"
               "Wrong type argument in position ~a (expecting ~a): ~s"
               (list 1 "record type" rtd) (list rtd)))
  (unless (string? name)
    (scm-error 'wrong-type-arg "register-wire-record-type!"
               "Wrong type argument in position ~a (expecting ~a): ~s"
               (list 2 "string" name) (list name)))
  (%wire-register-record-type! rtd name))

(define (wire-max-depth)
  "Return the deepest nesting of containers that the codec writes and
reads."
  (%wire-max-depth))

(define (%wire-set-parallelizer-hooks! rtd current)
  "Private to Parallelizer.  Make values whose struct vtable is RTD travel
as a content-less tag, and make decoding that tag call the thunk CURRENT,
which returns the receiving process's current parallelizer."
  ((@ (parallelizer primitives) %wire-set-parallelizer-hooks!) rtd current))

;;; wire.scm ends here
